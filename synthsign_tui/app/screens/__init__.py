"""The dashboard's screens: runs, one run, the new-run form, compare, and the modal dialogs."""
