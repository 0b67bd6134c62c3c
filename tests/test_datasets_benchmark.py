"""cocoop_lib/datasets/benchmark.py: the paper's datasets as the protocol lists them and their
class-name conventions."""
from cocoop_lib.datasets import DATASETS
from cocoop_lib.datasets.benchmark import (BASE_TO_NEW, DOMAIN_SHIFT, caltech_name, eurosat_name,
                                           pets_name, sun397_name)


# protocol.md, "Datasets": classes, split sizes and zero-shot templates.
TABLE = {
    "ImageNet": (1000, (1_281_167, 0, 50_000), "a photo of a {}."),
    "Caltech101": (100, (4128, 1649, 2465), "a photo of a {}."),
    "OxfordPets": (37, (2944, 736, 3669), "a photo of a {}, a type of pet."),
    "StanfordCars": (196, (6509, 1635, 8041), "a photo of a {}."),
    "Flowers102": (102, (4093, 1633, 2463), "a photo of a {}, a type of flower."),
    "Food101": (101, (50500, 20200, 30300), "a photo of {}, a type of food."),
    "FGVCAircraft": (100, (3334, 3333, 3333), "a photo of a {}, a type of aircraft."),
    "SUN397": (397, (15880, 3970, 19850), "a photo of a {}."),
    "DTD": (47, (2820, 1128, 1692), "{} texture."),
    "EuroSAT": (10, (13500, 5400, 8100), "a centered satellite photo of {}."),
    "UCF101": (101, (7639, 1898, 3783), "a photo of a person doing {}."),
    "ImageNetV2": (1000, (0, 0, 10000), "a photo of a {}."),
    "ImageNetSketch": (1000, (0, 0, 50889), "a photo of a {}."),
    "ImageNetA": (200, (0, 0, 7500), "a photo of a {}."),
    "ImageNetR": (200, (0, 0, 30000), "a photo of a {}."),
}
FOLDERS = {"ImageNet": "imagenet", "Caltech101": "caltech-101", "OxfordPets": "oxford_pets",
           "StanfordCars": "stanford_cars", "Flowers102": "oxford_flowers", "Food101": "food-101",
           "FGVCAircraft": "fgvc_aircraft", "SUN397": "sun397", "DTD": "dtd", "EuroSAT": "eurosat",
           "UCF101": "ucf101", "ImageNetV2": "imagenetv2", "ImageNetSketch": "imagenet-sketch",
           "ImageNetA": "imagenet-adversarial", "ImageNetR": "imagenet-rendition"}


def test_definitions_match_the_protocol_table():
    paper = {n: s for n, s in DATASETS.items() if s.world == "paper"}
    assert set(paper) == set(TABLE)
    for name, (n_classes, counts, template) in TABLE.items():
        spec = paper[name]
        assert (spec.n_classes, spec.counts, spec.template, spec.folder) == (
            n_classes, counts, template, FOLDERS[name]), name
    assert len(BASE_TO_NEW) == 11 and len(DOMAIN_SHIFT) == 4


def test_class_name_conventions_on_official_examples():
    assert caltech_name("airplanes/image_0001.jpg") == "airplane"
    assert caltech_name("Faces/image_0001.jpg") == "face"
    assert caltech_name("Leopards/image_0001.jpg") == "leopard"
    assert caltech_name("Motorbikes/image_0001.jpg") == "motorbike"
    assert caltech_name("accordion/image_0001.jpg") == "accordion"
    assert pets_name("Abyssinian_100.jpg") == "abyssinian"
    assert pets_name("american_pit_bull_terrier_12.jpg") == "american_pit_bull_terrier"
    assert sun397_name("a/apartment_building/outdoor/sun_aaa.jpg") == "outdoor apartment_building"
    assert sun397_name("a/abbey/sun_aaa.jpg") == "abbey"
    assert eurosat_name("AnnualCrop/AnnualCrop_1.jpg") == "Annual Crop Land"
    assert eurosat_name("SeaLake/SeaLake_1.jpg") == "Sea or Lake"
