"""Real datasets, read in place from disk (nothing is downloaded): the sources that the on-disk descriptors
of :data:`archssl.catalog.datasets.DATASETS` name as their ``impl`` (:mod:`~archssl.data.real.lowres`,
:mod:`~archssl.data.real.large`, :mod:`~archssl.data.real.transfer`, :mod:`~archssl.data.real.folders`; the
machinery they share is :mod:`~archssl.data.real.common`):

==============  =====  ==============  ==================================================================
name            cls    metric          splits
==============  =====  ==============  ==================================================================
imagenet        1000   top1            test = official val; val held out from train (4%)
inat2021        10000  top1            test = official val; val held out from train or train_mini (2%)
places205       205    top1            test = official val list; val held out from train (2%)
cifar10         10     top1            train/test; val held out from train (10%)
cifar100        100    top1            train/test; val held out from train (10%)
svhn            10     top1            train/test; val held out from train (10%)
stl10           10     top1            train/test; val held out (10%); + unlabeled, train+unlabeled
fgvc_aircraft   100    mean_per_class  own train/val/test (variants)
stanford_cars   196    top1            train/test; val held out from train (20%)
flowers102      102    mean_per_class  own train/val/test
oxford_pets     37     mean_per_class  trainval/test; val held out from trainval (20%)
dtd             47     top1            own train/val/test of partition 1
food101         101    top1            train/test; val held out from train (10%)
caltech101      102    mean_per_class  seeded 30 per class train+val (val 5 per class), rest test
sun397          397    top1            partition 1 train/test (else seeded 50/50); val held out (20%)
voc2007         20     map11           own train/val/test; multi-label float targets
cub200          200    top1            train/test; val folder or held out from train (10%)
stanford_dogs   120    top1            train/test; val folder or held out from train (10%)
mit_indoor67    67     top1            train/test; val folder or held out from train (10%)
uiuc_sports8    8      top1            train/test folders, or seeded 70/60 per class; val held out (10%)
==============  =====  ==============  ==================================================================

Each descriptor's ``layout`` documents the directory tree its source expects under its root (by default
``<data_root>/<name>``; see :func:`archssl.data.check.resolve_root`), and ``split_rule`` its splits.
"""
