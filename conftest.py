# The harness plugin; when the package is installed, its pytest11 entry point loads it
# under this same name, so it is registered once either way.
pytest_plugins = ["harness.plugin"]
