"""Where each dataset's files come from and where they go under the data root.

URLs and md5s are those of torchvision's download code and the CoOp data guide (DATASETS.md);
dead links come with their known replacements. Split files (and ImageNet's classnames.txt, the
UCF101 mid-frames) exist only as CoOp's own Google Drive uploads. Sizes are approximate and only
shown by ``--dry-run``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """One file to obtain, and what to do with it.

    ``urls`` are mirrors of the same file, tried in order (empty: manual step, see ``manual``).
    ``place`` lists (path inside the archive, target relative to the data root) moves after
    extraction; for a plain file (``archive=False``) the source path is ".". ``inner`` lists
    (archive inside the archive, target folder) extractions. ``check`` names a dataset whose
    split file this is, so its counts are checked before it is accepted.
    """

    filename: str
    urls: tuple[str, ...] = ()
    md5: str | None = None
    sha256: str | None = None
    size: str = "?"
    archive: bool = True
    place: tuple[tuple[str, str], ...] = ()
    inner: tuple[tuple[str, str], ...] = ()
    check: str | None = None
    manual: str = ""
    handler: str = ""

    @property
    def targets(self) -> list[str]:
        return [t for _, t in self.place] + [t for _, t in self.inner]


def gdrive(file_id: str) -> tuple[str, str]:
    """Direct-download URLs of a public Google Drive file (new and old endpoint)."""
    return (
        f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t",
        f"https://drive.google.com/uc?export=download&id={file_id}&confirm=t",
    )


def split_file(dataset: str, folder: str, name: str, file_id: str) -> Artifact:
    return Artifact(name, gdrive(file_id), size="~1 MB", archive=False,
                    place=((".", f"{folder}/{name}"),), check=dataset)


def classnames(folder: str) -> Artifact:
    return Artifact("classnames.txt", gdrive("1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"), size="~30 KB",
                    archive=False, place=((".", f"{folder}/classnames.txt"),))


IMAGENET_MANUAL = (
    "ImageNet needs a licence login. Sign in at https://image-net.org/download-images.php, accept "
    "the terms, download the ILSVRC2012 files named below and put them in {downloads} (or link them "
    "there), then run this command again: it checks their md5 and unpacks them into "
    "{root}/imagenet/images/train/<wnid>/ and {root}/imagenet/images/val/<wnid>/ (val sorted into "
    "class folders with the devkit, via torchvision)."
)
STANFORD_CARS_MANUAL = (
    "StanfordCars' original source (ai.stanford.edu/~jkrause/cars) is gone and no mirror of the "
    "original archives has a published checksum. Get the original images, e.g. from the Kaggle copy "
    "'jessicali9530/stanford-cars-dataset' (see also pytorch/vision issue #7545 for the devkit and "
    "cars_test_annos_withlabels.mat), and put the 8,144 training JPEGs (00001.jpg ...) in "
    "{root}/stanford_cars/cars_train/ and the 8,041 test JPEGs in {root}/stanford_cars/cars_test/ "
    "(flatten any extra nesting such as cars_train/cars_train/). The split file is fetched by this "
    "command; `python -m data_scripts.verify StanfordCars --root {root}` then checks every image."
)
SUN397_MANUAL = (
    "SUN397's official links (vision.princeton.edu, MIT CSAIL) are dead (pytorch/vision #9348, CoOp "
    "#90). If the download fails, obtain SUN397.tar.gz (md5 8ca2778205c41d23104230ba66911c7a, ~37 GB; "
    "e.g. the OpenDataLab copy) and put it in {downloads}, then run this command again."
)

SOURCES: dict[str, list[Artifact]] = {
    "ImageNet": [
        Artifact("ILSVRC2012_devkit_t12.tar.gz", md5="fa75699e90414af021442c21a62c3abf", size="~2.5 MB",
                 manual=IMAGENET_MANUAL, handler="imagenet_devkit"),
        Artifact("ILSVRC2012_img_val.tar", md5="29b22e2961454d5413ddabcf34fc5622", size="~6.3 GB",
                 manual=IMAGENET_MANUAL, handler="imagenet_val", place=((".", "imagenet/images/val"),)),
        Artifact("ILSVRC2012_img_train.tar", md5="1d675b47d978889d74fa0da5fadfb00e", size="~138 GB",
                 manual=IMAGENET_MANUAL, handler="imagenet_train", place=((".", "imagenet/images/train"),)),
        classnames("imagenet"),
    ],
    "Caltech101": [
        Artifact("caltech-101.zip", ("https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",),
                 md5="3138e1922a9193bfa496528edbbc45d0", size="~137 MB",
                 inner=(("caltech-101/101_ObjectCategories.tar.gz", "caltech-101"),)),
        split_file("Caltech101", "caltech-101", "split_zhou_Caltech101.json", "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"),
    ],
    "OxfordPets": [
        Artifact("images.tar.gz", ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
                                   "https://thor.robots.ox.ac.uk/~vgg/data/pets/images.tar.gz"),
                 md5="5c4f3ee8e5d25df40f4fd59a7f44e54c", size="~755 MB",
                 place=(("images", "oxford_pets/images"),)),
        Artifact("annotations.tar.gz", ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
                                        "https://thor.robots.ox.ac.uk/~vgg/data/pets/annotations.tar.gz"),
                 md5="95a8c909bbe2e81eed6a22bccdf3f68f", size="~18 MB",
                 place=(("annotations", "oxford_pets/annotations"),)),
        split_file("OxfordPets", "oxford_pets", "split_zhou_OxfordPets.json", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),
    ],
    "StanfordCars": [
        Artifact("", manual=STANFORD_CARS_MANUAL, size="~1.9 GB",
                 place=((".", "stanford_cars/cars_train"), (".", "stanford_cars/cars_test"))),
        split_file("StanfordCars", "stanford_cars", "split_zhou_StanfordCars.json", "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"),
    ],
    "Flowers102": [
        Artifact("102flowers.tgz", ("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",),
                 md5="52808999861908f626f3c1f4e79d11fa", size="~330 MB", place=(("jpg", "oxford_flowers/jpg"),)),
        Artifact("imagelabels.mat", ("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",),
                 md5="e0620be6f572b9609742df49c70aed4d", size="~1 KB", archive=False,
                 place=((".", "oxford_flowers/imagelabels.mat"),)),
        Artifact("cat_to_name.json", gdrive("1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0"), size="~3 KB", archive=False,
                 place=((".", "oxford_flowers/cat_to_name.json"),)),
        split_file("Flowers102", "oxford_flowers", "split_zhou_OxfordFlowers.json", "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"),
    ],
    "Food101": [
        Artifact("food-101.tar.gz", ("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",
                                     "https://data.vision.ee.ethz.ch/cvl/food-101.tar.gz"),
                 md5="85eeb15f3717b99a5da872d97d918f87", size="~5.0 GB", place=(("food-101", "food-101"),)),
        split_file("Food101", "food-101", "split_zhou_Food101.json", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),
    ],
    "FGVCAircraft": [
        Artifact("fgvc-aircraft-2013b.tar.gz",
                 ("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",),
                 size="~2.8 GB", place=(("fgvc-aircraft-2013b/data", "fgvc_aircraft"),)),
    ],
    "SUN397": [
        Artifact("SUN397.tar.gz", ("https://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",
                                   "http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz"),
                 md5="8ca2778205c41d23104230ba66911c7a", size="~37 GB", manual=SUN397_MANUAL,
                 place=(("SUN397", "sun397/SUN397"),)),
        split_file("SUN397", "sun397", "split_zhou_SUN397.json", "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"),
    ],
    "DTD": [
        Artifact("dtd-r1.0.1.tar.gz", ("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
                 md5="fff73e5086ae6bdbea199a49dfb8a4c1", size="~625 MB", place=(("dtd", "dtd"),)),
        split_file("DTD", "dtd", "split_zhou_DescribableTextures.json", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),
    ],
    "EuroSAT": [
        # The guide's madm.dfki.de link is dead; torchvision moved to TorchGeo's copy on the HF hub.
        Artifact("EuroSAT.zip",
                 ("https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
                  "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
                  "http://madm.dfki.de/files/sentinel/EuroSAT.zip"),
                 md5="c8fa014336c82ac7804f0398fcb19387", size="~94 MB", place=(("2750", "eurosat/2750"),)),
        split_file("EuroSAT", "eurosat", "split_zhou_EuroSAT.json", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),
    ],
    "UCF101": [
        Artifact("UCF-101-midframes.zip", gdrive("10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O"), size="~0.3 GB (est.)",
                 place=(("UCF-101-midframes", "ucf101/UCF-101-midframes"),)),
        split_file("UCF101", "ucf101", "split_zhou_UCF101.json", "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"),
    ],
    "ImageNetV2": [
        Artifact("imagenetv2-matched-frequency.tar.gz",
                 ("https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
                  "imagenetv2-matched-frequency.tar.gz",
                  "https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz"),
                 size="~1.2 GB",
                 place=(("imagenetv2-matched-frequency-format-val",
                         "imagenetv2/imagenetv2-matched-frequency-format-val"),)),
        classnames("imagenetv2"),
    ],
    "ImageNetSketch": [
        Artifact("ImageNet-Sketch.zip",
                 gdrive("1Mj0i5HBthqH1p_yeXzsg22gZduvgoNeA")
                 + ("https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",),
                 size="~7.8 GB", place=(("sketch", "imagenet-sketch/images"),)),
        classnames("imagenet-sketch"),
    ],
    "ImageNetA": [
        Artifact("imagenet-a.tar", ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",),
                 size="~0.7 GB", place=(("imagenet-a", "imagenet-adversarial/imagenet-a"),)),
        classnames("imagenet-adversarial"),
    ],
    "ImageNetR": [
        Artifact("imagenet-r.tar", ("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",),
                 size="~2.1 GB", place=(("imagenet-r", "imagenet-rendition/imagenet-r"),)),
        classnames("imagenet-rendition"),
    ],
}
