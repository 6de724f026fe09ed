"""Image sets: the bundled sample sets, folders, uploads, ImageNet layouts; decoding that skips bad files."""

from .access import (
    ENV_ROOTS,
    MAX_UPLOAD_IMAGES,
    FolderRefused,
    check_folder,
    data_roots,
    inside_roots,
)
from .dataset import ImageDataset, collate_skipping
from .decode import MAX_PIXELS, decode_image, load_source_image, to_standard_mode
from .image_sets import (
    IMAGE_EXTENSIONS,
    SAMPLE_SET,
    ImageItem,
    ImageSet,
    image_folder,
    image_set_from_spec,
    sample_set,
    split_mask,
    uploads,
)
from .imagenet import imagenet_class_names, imagenet_wnids
from .labels import match_class, problems_for_files, read_labels_csv, wnids_for
from .layouts import (
    GROUND_TRUTH,
    KAGGLE_SOLUTION,
    find_label_file,
    fingerprint,
    flat_val_labels,
    parquet_items,
    val_stem,
)
from .paths import (
    DATA_DIR,
    FMNIST_DIR,
    FMNIST_SAMPLE,
    FMNIST_WEIGHTS,
    IMAGENET_DIR,
    IMAGENET_SAMPLE,
    IMAGENET_TFLITE,
    IMAGENET_WEIGHTS,
)
from .suitability import input_warnings

__all__ = [
    "ENV_ROOTS",
    "MAX_UPLOAD_IMAGES",
    "FolderRefused",
    "data_roots",
    "check_folder",
    "inside_roots",
    "ImageDataset",
    "collate_skipping",
    "MAX_PIXELS",
    "decode_image",
    "load_source_image",
    "to_standard_mode",
    "imagenet_class_names",
    "imagenet_wnids",
    "match_class",
    "problems_for_files",
    "read_labels_csv",
    "wnids_for",
    "GROUND_TRUTH",
    "KAGGLE_SOLUTION",
    "find_label_file",
    "flat_val_labels",
    "val_stem",
    "parquet_items",
    "fingerprint",
    "DATA_DIR",
    "IMAGENET_DIR",
    "IMAGENET_TFLITE",
    "IMAGENET_WEIGHTS",
    "IMAGENET_SAMPLE",
    "FMNIST_DIR",
    "FMNIST_WEIGHTS",
    "FMNIST_SAMPLE",
    "IMAGE_EXTENSIONS",
    "ImageItem",
    "ImageSet",
    "SAMPLE_SET",
    "image_folder",
    "sample_set",
    "image_set_from_spec",
    "split_mask",
    "uploads",
    "input_warnings",
]
