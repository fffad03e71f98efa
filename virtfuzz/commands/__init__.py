"""One module per CLI sub-command: ``HELP``, ``add_arguments(parser)``, ``run(args) -> exit status``."""
