"""The paper's 11 datasets and 4 ImageNet variants, as the official CoOp loaders read them.

Folder names follow the CoOp data guide (DATASETS.md); split-file names, image folders, class-name
conventions and templates follow the official loaders and zero-shot templates. Expected sizes are
the split files' (train, val, test); test-only datasets have empty train and val.
"""

from __future__ import annotations

import posixpath

from .spec import FGVC_VARIANTS, IMAGENET, NUMBERED_FOLDERS, WNID_FOLDERS, DatasetSpec

CALTECH_RENAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
CALTECH_IGNORED = ("BACKGROUND_Google", "Faces_easy")
EUROSAT_RENAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


def _top(relpath: str) -> str:
    return relpath.split("/")[0]


def caltech_name(relpath: str) -> str:
    """'airplanes/image_0001.jpg' -> 'airplane' (four renames, other folders verbatim)."""
    return CALTECH_RENAMES.get(_top(relpath), _top(relpath))


def pets_name(relpath: str) -> str:
    """'american_bulldog_10.jpg' -> 'american_bulldog' (breed from the file name, lower case)."""
    stem = posixpath.splitext(posixpath.basename(relpath))[0]
    return "_".join(stem.split("_")[:-1]).lower()


def eurosat_name(relpath: str) -> str:
    """'AnnualCrop/AnnualCrop_1.jpg' -> 'Annual Crop Land'."""
    return EUROSAT_RENAMES.get(_top(relpath), _top(relpath))


def sun397_name(relpath: str) -> str:
    """'a/apartment_building/outdoor/sun_x.jpg' -> 'outdoor apartment_building' (path parts reversed)."""
    return " ".join(posixpath.dirname(relpath).split("/")[1:][::-1])


def ucf101_name(relpath: str) -> str:
    """'Apply_Eye_Makeup/v_ApplyEyeMakeup_g01_c01.jpg' -> 'Apply_Eye_Makeup' (CamelCase split by '_')."""
    return _top(relpath)


def folder_name(relpath: str) -> str:
    """'banded/banded_0002.jpg' -> 'banded'."""
    return _top(relpath)


PHOTO = "a photo of a {}."

PAPER_DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        DatasetSpec("ImageNet", "imagenet", PHOTO, 1000, kind=IMAGENET, image_dir="images",
                    counts=(1_281_167, 0, 50_000)),
        DatasetSpec("Caltech101", "caltech-101", PHOTO, 100, split_file="split_zhou_Caltech101.json",
                    image_dir="101_ObjectCategories", counts=(4_128, 1_649, 2_465),
                    classname_rule=caltech_name),
        DatasetSpec("OxfordPets", "oxford_pets", "a photo of a {}, a type of pet.", 37,
                    split_file="split_zhou_OxfordPets.json", image_dir="images",
                    counts=(2_944, 736, 3_669), classname_rule=pets_name),
        DatasetSpec("StanfordCars", "stanford_cars", PHOTO, 196, split_file="split_zhou_StanfordCars.json",
                    image_dir="", counts=(6_509, 1_635, 8_041)),
        DatasetSpec("Flowers102", "oxford_flowers", "a photo of a {}, a type of flower.", 102,
                    split_file="split_zhou_OxfordFlowers.json", image_dir="jpg",
                    counts=(4_093, 1_633, 2_463), official_name="OxfordFlowers"),
        DatasetSpec("Food101", "food-101", "a photo of {}, a type of food.", 101,
                    split_file="split_zhou_Food101.json", image_dir="images",
                    counts=(50_500, 20_200, 30_300), classname_rule=folder_name),
        DatasetSpec("FGVCAircraft", "fgvc_aircraft", "a photo of a {}, a type of aircraft.", 100,
                    kind=FGVC_VARIANTS, image_dir="images", counts=(3_334, 3_333, 3_333)),
        DatasetSpec("SUN397", "sun397", PHOTO, 397, split_file="split_zhou_SUN397.json",
                    image_dir="SUN397", counts=(15_880, 3_970, 19_850), classname_rule=sun397_name),
        DatasetSpec("DTD", "dtd", "{} texture.", 47, split_file="split_zhou_DescribableTextures.json",
                    image_dir="images", counts=(2_820, 1_128, 1_692), classname_rule=folder_name,
                    official_name="DescribableTextures"),
        DatasetSpec("EuroSAT", "eurosat", "a centered satellite photo of {}.", 10,
                    split_file="split_zhou_EuroSAT.json", image_dir="2750",
                    counts=(13_500, 5_400, 8_100), classname_rule=eurosat_name),
        DatasetSpec("UCF101", "ucf101", "a photo of a person doing {}.", 101,
                    split_file="split_zhou_UCF101.json", image_dir="UCF-101-midframes",
                    counts=(7_639, 1_898, 3_783), classname_rule=ucf101_name),
        DatasetSpec("ImageNetV2", "imagenetv2", PHOTO, 1000, kind=NUMBERED_FOLDERS,
                    image_dir="imagenetv2-matched-frequency-format-val", counts=(0, 0, 10_000),
                    aliases=("ImageNet-V2",)),
        DatasetSpec("ImageNetSketch", "imagenet-sketch", PHOTO, 1000, kind=WNID_FOLDERS,
                    image_dir="images", counts=(0, 0, 50_889), aliases=("ImageNet-Sketch",)),
        DatasetSpec("ImageNetA", "imagenet-adversarial", PHOTO, 200, kind=WNID_FOLDERS,
                    image_dir="imagenet-a", counts=(0, 0, 7_500), aliases=("ImageNet-A",)),
        DatasetSpec("ImageNetR", "imagenet-rendition", PHOTO, 200, kind=WNID_FOLDERS,
                    image_dir="imagenet-r", counts=(0, 0, 30_000), aliases=("ImageNet-R",)),
    ]
}

# The 11 datasets of base-to-new generalisation and cross-dataset transfer (paper order).
BASE_TO_NEW = ("ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "Flowers102", "Food101",
               "FGVCAircraft", "SUN397", "DTD", "EuroSAT", "UCF101")
# The ImageNet variants of domain generalisation.
DOMAIN_SHIFT = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")

