"""Cases: the researcher's pages, API, preview and the unblinded pair viewer."""
