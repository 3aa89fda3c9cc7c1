"""The descriptors of the transfer-learning benchmark sets of Kornblith, Shlens & Le (2019): FGVC Aircraft,
Stanford Cars, Oxford Flowers-102, Oxford-IIIT Pets, DTD, Food-101, Caltech-101, SUN397 and PASCAL VOC 2007
(read by :mod:`archssl.data.real.transfer`).

Split rules (each descriptor's ``split_rule``): the dataset's own train/val/test where it has them;
otherwise ``val`` is a seeded, stratified ``val_fraction`` of train. Default fractions follow the
validation-set sizes of Kornblith et al.'s Table A1 as we recall them (about 10% for Food-101 and 20% for
Cars, Pets and SUN397; 5 of the 30 per class for Caltech-101); they are configurable per study.
"""

from __future__ import annotations

from archssl.catalog.datasets.base import DiskDatasetInfo

_IMPL = "archssl.data.real.transfer"
_HELD_OUT = "val: seeded stratified val_fraction of train"

INFOS = (
    DiskDatasetInfo(
        name="fgvc_aircraft",
        impl=f"{_IMPL}:AircraftSource",
        num_classes=100,
        metric="mean_per_class",
        description="FGVC Aircraft 2013b, variant level (100 classes), 3,334 train / 3,333 val / 3,333 test",
        layout="""
{root}/fgvc-aircraft-2013b/data/images/<image id>.jpg
{root}/fgvc-aircraft-2013b/data/variants.txt
{root}/fgvc-aircraft-2013b/data/images_variant_{train,val,test}.txt   ('<image id> <variant>' per line)
(the archive fgvc-aircraft-2013b.tar.gz extracted into {root})""",
        split_rule="train/val/test as distributed (variant level)",
        markers=(
            "fgvc-aircraft-2013b/data/variants.txt",
            "fgvc-aircraft-2013b/data/images",
            "fgvc-aircraft-2013b/data/images_variant_train.txt",
            "fgvc-aircraft-2013b/data/images_variant_val.txt",
            "fgvc-aircraft-2013b/data/images_variant_test.txt",
        ),
    ),
    DiskDatasetInfo(
        name="stanford_cars",
        impl=f"{_IMPL}:CarsSource",
        num_classes=196,
        description="Stanford Cars, 196 classes, 8,144 train / 8,041 test",
        layout="""
{root}/stanford_cars/devkit/{cars_meta.mat, cars_train_annos.mat}
{root}/stanford_cars/cars_train/*.jpg
{root}/stanford_cars/cars_test/*.jpg
{root}/stanford_cars/cars_test_annos_withlabels.mat
(torchvision's StanfordCars layout: car_devkit.tgz, cars_train.tgz and cars_test.tgz extracted into
{root}/stanford_cars, plus cars_test_annos_withlabels.mat)""",
        split_rule=f"train/test as distributed; {_HELD_OUT}",
        markers=(
            "stanford_cars/devkit/cars_meta.mat",
            "stanford_cars/devkit/cars_train_annos.mat",
            "stanford_cars/cars_train",
            "stanford_cars/cars_test",
            "stanford_cars/cars_test_annos_withlabels.mat",
        ),
        val_fraction=0.2,
    ),
    DiskDatasetInfo(
        name="flowers102",
        impl=f"{_IMPL}:FlowersSource",
        num_classes=102,
        metric="mean_per_class",
        description="Oxford Flowers-102, 1,020 train / 1,020 val / 6,149 test",
        layout="""
{root}/flowers-102/jpg/image_00001.jpg ... image_08189.jpg
{root}/flowers-102/imagelabels.mat
{root}/flowers-102/setid.mat   (trnid, valid, tstid)
(102flowers.tgz extracted into {root}/flowers-102, next to the two .mat files)""",
        split_rule="train/val/test as distributed (setid.mat trnid/valid/tstid)",
        markers=("flowers-102/jpg", "flowers-102/imagelabels.mat", "flowers-102/setid.mat"),
    ),
    DiskDatasetInfo(
        name="oxford_pets",
        impl=f"{_IMPL}:PetsSource",
        num_classes=37,
        metric="mean_per_class",
        description="Oxford-IIIT Pets, 37 breeds, 3,680 trainval / 3,669 test",
        layout="""
{root}/oxford-iiit-pet/images/*.jpg
{root}/oxford-iiit-pet/annotations/{trainval.txt, test.txt}   ('<image> <class id> <species> <breed id>')
(images.tar.gz and annotations.tar.gz extracted into {root}/oxford-iiit-pet)""",
        split_rule="trainval/test as distributed; train = trainval minus val; val: seeded stratified val_fraction of trainval",
        markers=(
            "oxford-iiit-pet/images",
            "oxford-iiit-pet/annotations/trainval.txt",
            "oxford-iiit-pet/annotations/test.txt",
        ),
        val_fraction=0.2,
    ),
    DiskDatasetInfo(
        name="dtd",
        impl=f"{_IMPL}:DtdSource",
        num_classes=47,
        description="Describable Textures Dataset r1.0.1, 47 classes, 1,880 / 1,880 / 1,880 per partition",
        layout="""
{root}/dtd/dtd/images/<class>/*.jpg
{root}/dtd/dtd/labels/{train,val,test}{1..10}.txt   ('<class>/<file>.jpg' per line)
(torchvision's layout: the archive dtd-r1.0.1.tar.gz extracted into {root}/dtd; a {root} that is itself
named 'dtd' and holds the extracted dtd/ folder also works)""",
        split_rule="train/val/test of partition 1 (option partition: 1..10)",
        markers=("dtd/dtd/images", "dtd/dtd/labels"),
        options={"partition": 1},
    ),
    DiskDatasetInfo(
        name="food101",
        impl=f"{_IMPL}:FoodSource",
        num_classes=101,
        description="Food-101, 75,750 train / 25,250 test",
        layout="""
{root}/food-101/images/<class>/<id>.jpg
{root}/food-101/meta/{train.json, test.json, classes.txt}
(the archive food-101.tar.gz extracted into {root})""",
        split_rule=f"train/test as distributed; {_HELD_OUT}",
        markers=("food-101/images", "food-101/meta/train.json", "food-101/meta/test.json"),
    ),
    DiskDatasetInfo(
        name="caltech101",
        impl=f"{_IMPL}:CaltechSource",
        num_classes=102,
        metric="mean_per_class",
        description="Caltech-101 with BACKGROUND_Google (102 classes), 30 train per class, rest test",
        layout="""
{root}/101_ObjectCategories/<category>/image_0001.jpg ...   (102 folders incl. BACKGROUND_Google)
(or torchvision's layout {root}/caltech101/101_ObjectCategories/...; 101_ObjectCategories.tar.gz extracted)""",
        split_rule=(
            "seeded per class: train_per_class (30) images -> train+val, the rest -> test; "
            "val: seeded stratified val_fraction (1/6 = 5 per class) of those"
        ),
        val_fraction=1 / 6,
        options={"train_per_class": 30},
    ),
    DiskDatasetInfo(
        name="sun397",
        impl=f"{_IMPL}:Sun397Source",
        num_classes=397,
        description="SUN397 scenes, partition 1: 19,850 train+val / 19,850 test",
        layout="""
{root}/SUN397/ClassName.txt
{root}/SUN397/<letter>/<class>[/<subclass>]/sun_*.jpg
{root}/SUN397/Partitions/{Training_01.txt, Testing_01.txt, ...}   (optional: Partitions.zip extracted;
    also looked for in {root}/Partitions and {root}/SUN397; without them a seeded 50/50 per-class split)
(SUN397.tar.gz extracted into {root})""",
        split_rule=(
            "train/test of partition 1 when the partition files exist, else seeded 50 + 50 per class; "
            "val: seeded stratified val_fraction of train"
        ),
        markers=("SUN397/ClassName.txt",),
        val_fraction=0.2,
        options={"partition": 1},
    ),
    DiskDatasetInfo(
        name="voc2007",
        impl=f"{_IMPL}:Voc2007Source",
        num_classes=20,
        metric="map11",
        multilabel=True,
        description="PASCAL VOC 2007 classification (multi-label), 2,501 train / 2,510 val / 4,952 test",
        layout="""
{root}/VOCdevkit/VOC2007/JPEGImages/<id>.jpg
{root}/VOCdevkit/VOC2007/Annotations/<id>.xml
{root}/VOCdevkit/VOC2007/ImageSets/Main/{train,val,test}.txt
(VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar extracted into {root})""",
        split_rule="train/val/test as distributed (ImageSets/Main)",
        markers=(
            "VOCdevkit/VOC2007/JPEGImages",
            "VOCdevkit/VOC2007/Annotations",
            "VOCdevkit/VOC2007/ImageSets/Main/train.txt",
            "VOCdevkit/VOC2007/ImageSets/Main/val.txt",
            "VOCdevkit/VOC2007/ImageSets/Main/test.txt",
        ),
        options={"difficult": "positive"},
    ),
)
