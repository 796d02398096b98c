from setuptools import find_packages, setup

package_name = "panoptic_datasets"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"": ["*.yaml", "*.json", "py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),

    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Panoptic perception maintainers",
    maintainer_email="maintainers@panoptic-perception.dev",
    description="Synthetic driving world, sensor simulation, dataset formats and a bag player.",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "panoptic-data = panoptic_datasets.cli:main",
        "player_node = panoptic_datasets.ros.player_node:main",
    ]},
)
