"""The testbed agents and the bus they speak."""
