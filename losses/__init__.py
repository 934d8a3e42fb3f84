"""Pure loss functions shared by the experiment families."""
