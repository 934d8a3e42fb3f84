"""JAX metrics computed inside programs (traced, vmappable, no host sync), reusable by every family."""
