"""ROS message <-> numpy conversions (our replacement for sensor_msgs_py and cv_bridge).

Every conversion raises :class:`ConversionError` (a ``ValueError``) naming the offending field.
"""

from .camera_info import camera_info_to_model, camera_model_to_info
from .errors import ConversionError
from .geometry import matrix_to_pose, matrix_to_transform, quaternion_to_rotation, rotation_to_quaternion, transform_to_matrix
from .image import array_to_image, encoding_layout, image_to_array, image_to_rgb
from .pointcloud import (
    PANOPTIC_POINT_DTYPE,
    array_to_cloud,
    cloud_to_array,
    cloud_to_sensor_points,
    cloud_xyz,
    dtype_to_fields,
    fields_to_dtype,
    msg_to_panoptic_array,
    panoptic_cloud_to_msg,
)
from .stamps import make_header, ns_to_stamp, stamp_to_ns

__all__ = [
    "PANOPTIC_POINT_DTYPE",
    "ConversionError",
    "array_to_cloud",
    "array_to_image",
    "camera_info_to_model",
    "camera_model_to_info",
    "cloud_to_array",
    "cloud_to_sensor_points",
    "cloud_xyz",
    "dtype_to_fields",
    "encoding_layout",
    "fields_to_dtype",
    "image_to_array",
    "image_to_rgb",
    "make_header",
    "matrix_to_pose",
    "matrix_to_transform",
    "msg_to_panoptic_array",
    "ns_to_stamp",
    "panoptic_cloud_to_msg",
    "quaternion_to_rotation",
    "rotation_to_quaternion",
    "stamp_to_ns",
    "transform_to_matrix",
]
