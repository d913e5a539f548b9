__title__ = "spacy-repsl"
__version__ = "0.1.0.dev0"
