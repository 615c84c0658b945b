"""The operator edge: ``authgate serve``, ``authgate migrate`` and friends."""
