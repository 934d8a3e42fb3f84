"""Host-side analysis: statistics over seeds, report rendering, plots, the dashboard."""
