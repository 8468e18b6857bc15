"""``torch.utils.data`` in NumPy: Dataset, TensorDataset, Subset, random_split, DataLoader."""

from .collate import collate
from .dataloader import DataLoader
from .dataset import Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "collate"]
