"""subcluster-adacos-asd
"""

__version__ = "0.1"
