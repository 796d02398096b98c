from glob import glob

from setuptools import find_packages, setup

package_name = "panoptic_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"": ["*.yaml", "*.json", "py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.xml")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
        ("share/" + package_name + "/foxglove", glob("foxglove/*.json")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Panoptic perception maintainers",
    maintainer_email="maintainers@panoptic-perception.dev",
    description="Launch files, node configuration and RViz layouts of the panoptic perception stack.",
    license="Apache-2.0",
    entry_points={"console_scripts": ["panoptic-bench = panoptic_bringup.bench_replay:main"]},
)
