"""The duplicates review: one group at a time, its files side by side.

- `review`: `Review`, what a review decided (keepers chosen by hand, groups left
  alone or marked as not duplicates) over a dedupe plan, and the `dedupe`
  parameters that carry it out; no Textual.
- `card`: `FileCard`, one file of a group: its picture, where it lives, its
  size, resolution, format and dates, its similarity to the keeper, and what
  happens to it.
- `screen`: `ReviewScreen`, the cards of the current group, the keys, and the
  pictures read in workers.
"""
