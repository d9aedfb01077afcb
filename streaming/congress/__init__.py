"""The air party congress (空中党代会): its procedure, apart from its media."""
