"""Charts drawn from the registry: the accuracy-versus-cost chart of the case studies."""
