from setuptools import find_packages, setup

package_name = "panoptic_perception"

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
    description="Online panoptic perception with thin ROS 2 nodes.",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "panoptic-eval = panoptic_perception.metrics.cli:main",
        "perception_node = panoptic_perception.nodes.perception_node:main",
        "mapping_node = panoptic_perception.nodes.mapping_node:main",
        "odometry_node = panoptic_perception.nodes.odometry_node:main",
    ]},
)
