"""Command-line scripts: fetch and verify the paper's data (get, verify), build the mini world."""
