"""Options from flags and the config file: their types, the file reader, the checks run and config check share."""
