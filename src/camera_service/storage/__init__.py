"""Media on disk: file names, the media index, downloads' safe opening, the disk
monitor and retention."""
