"""The `tingfeng` command line: a thin layer over the packages; errors become one clear line."""
