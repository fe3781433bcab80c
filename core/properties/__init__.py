"""Typed properties of images, the filter language over them, and CSV in and out.

A project has two kinds of property (Panoptic's model): tag properties, whose
values are hierarchical tags (several per image), and typed properties (text,
number, date, checkbox, URL), one value per image. Beside them, built-in
read-only properties come from the images and their files (folder, size, date
taken, ...). Every listing, the filter language (filters.py) and CSV export and
import (table_io.py) see the three through one catalogue (kinds.py).
"""
