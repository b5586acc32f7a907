"""Communication: notices with acknowledgements."""
