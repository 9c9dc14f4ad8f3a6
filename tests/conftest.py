"""Shared fixtures: fake CIFAR archives served from 127.0.0.1 (see fake_cifar.py), Debian's Fashion-MNIST."""
from __future__ import annotations

from pathlib import Path

import pytest

from fake_cifar import FakeArchive, served_fake_archive

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
# The longest files, started first: `make test` hands whole files to two workers in collection order, so a long
# file collected last would run alone at the end
LONGEST_FILES = ("test_cluster.py", "test_pipeline.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONGEST_FILES)  # stable: the order within files is kept


@pytest.fixture(scope="session")
def debian_fashion_mnist() -> Path:
    """Debian's dataset-fashion-mnist (the real dataset); `make test` installs it (Makefile: test-data)."""
    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.fail(f"{DEBIAN_FASHION_MNIST} is missing: run the tests with `make test`, which installs it "
                    "(apt-get install -y dataset-fashion-mnist)")
    return DEBIAN_FASHION_MNIST


@pytest.fixture(scope="session")
def fake_cifar100(tmp_path_factory) -> FakeArchive:
    """A served fake cifar-100-python.tar.gz: 2,000 training and 500 test images, 100 classes."""
    with served_fake_archive(tmp_path_factory.mktemp("fake-cifar100"), "cifar100", n_train=2000, n_test=500) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_cifar10(tmp_path_factory) -> FakeArchive:
    """A served fake cifar-10-python.tar.gz: 1,000 training images in 5 batches and 200 test images."""
    with served_fake_archive(tmp_path_factory.mktemp("fake-cifar10"), "cifar10", n_train=1000, n_test=200) as fake:
        yield fake
