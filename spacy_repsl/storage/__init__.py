"""What reaches the disk and what is checked before it does: paths and their one-line errors
(`paths`), folders replaced as a whole or not at all (`atomic`), and the refusal of non-finite
weights and losses (`finite`). Standard library only; every other room may use it."""
