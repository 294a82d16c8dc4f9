"""Datasets: readers, fetchers and splits (file I/O lives here, on the host)."""
