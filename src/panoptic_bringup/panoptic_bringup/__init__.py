"""Launch, configuration and the in-process runner of the panoptic perception stack."""
