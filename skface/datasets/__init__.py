"""Finding face images and their labels.

Every loader returns one DataFrame schema (``path``, ``age``, ``gender``,
``gender_name``, ``race``, ``race_name`` and source-specific columns) in skface's
label codes: gender 0 male, 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian,
4 Others. Importing this module does not import torch.
"""

from ._check import check_images
from ._fairface import load_fairface
from ._imdb_wiki import load_imdb_wiki
from ._synthetic import make_faces
from ._table import from_dataframe, load_csv
from ._utkface import load_utkface, parse_utkface_names

__all__ = [
    "check_images",
    "from_dataframe",
    "load_csv",
    "load_fairface",
    "load_imdb_wiki",
    "load_utkface",
    "make_faces",
    "parse_utkface_names",
]
