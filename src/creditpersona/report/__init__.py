"""Reports: the HTML report of a store and its profiles."""
