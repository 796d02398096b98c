from setuptools import find_packages, setup

package_name = "panoptic_training"

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
    description="Offline training, evaluation and export of the panoptic perception models.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "panoptic-train = panoptic_training.cli:train_main",
            "panoptic-export = panoptic_training.cli:export_main",
            "panoptic-eval-upfuse = panoptic_training.evaluate_upfuse:main",
        ]
    },
)
