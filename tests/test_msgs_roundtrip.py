"""panoptic_msgs over real DDS: every message within one process and between two processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from msg_samples import samples
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message

pytestmark = pytest.mark.ros
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _topic(msg_type: type) -> str:
    return "roundtrip_" + msg_type.__name__.lower()


@pytest.mark.parametrize("msg_type", list(samples()), ids=lambda t: t.__name__)
def test_every_message_survives_cdr_serialization(msg_type):
    original = samples()[msg_type]
    assert deserialize_message(serialize_message(original), msg_type) == original


def test_every_message_round_trips_between_two_nodes_of_one_process(ros_context, spin_until):
    from rclpy.node import Node

    sent = samples()
    received: dict[type, object] = {}
    talker = Node("talker", context=ros_context)
    listener = Node("listener", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(talker)
    executor.add_node(listener)
    publishers = {t: talker.create_publisher(t, _topic(t), RELIABLE) for t in sent}
    for t in sent:
        listener.create_subscription(t, _topic(t), lambda m, t=t: received.setdefault(t, m), RELIABLE)
    for t, msg in sent.items():
        publishers[t].publish(msg)

    assert spin_until(executor, lambda: len(received) == len(sent), timeout=10.0), f"missing {set(sent) - set(received)}"
    assert received == sent
    executor.shutdown()


ECHO_NODE = textwrap.dedent(
    """
    import sys
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from panoptic_msgs.srv import ResetMap, SaveMap
    sys.path.insert(0, sys.argv[1])
    from msg_samples import samples

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    rclpy.init()
    node = Node("echo")
    keep = []
    for t in samples():
        name = "roundtrip_" + t.__name__.lower()
        pub = node.create_publisher(t, name + "_echo", qos)
        keep.append(node.create_subscription(t, name, lambda m, pub=pub: pub.publish(m), qos))

    def save(request, response):
        response.success = request.path.endswith(".ply")
        response.message = "saved " + request.path if response.success else "unsupported extension: " + request.path
        return response

    def reset(request, response):
        response.success, response.message = True, "map cleared"
        return response

    node.create_service(SaveMap, "save_map", save)
    node.create_service(ResetMap, "reset_map", reset)
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    """
)


def test_every_message_and_service_round_trips_through_a_second_process(ros_context, spin_until, tmp_path):
    from rclpy.node import Node

    from panoptic_msgs.srv import ResetMap, SaveMap

    script = tmp_path / "echo.py"
    script.write_text(ECHO_NODE)
    child = subprocess.Popen([sys.executable, str(script), str(Path(__file__).parent)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        sent = samples()
        echoed: dict[type, object] = {}
        node = Node("caller", context=ros_context)
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(node)
        publishers = {t: node.create_publisher(t, _topic(t), RELIABLE) for t in sent}
        for t in sent:
            node.create_subscription(t, _topic(t) + "_echo", lambda m, t=t: echoed.setdefault(t, m), RELIABLE)
        for t, msg in sent.items():
            publishers[t].publish(msg)
        assert spin_until(executor, lambda: len(echoed) == len(sent), timeout=20.0), f"missing {set(sent) - set(echoed)}"
        assert echoed == sent

        save, reset = node.create_client(SaveMap, "save_map"), node.create_client(ResetMap, "reset_map")
        assert spin_until(executor, lambda: save.service_is_ready() and reset.service_is_ready(), timeout=10.0)
        good = save.call_async(SaveMap.Request(path="maps/run1.ply"))
        bad = save.call_async(SaveMap.Request(path="maps/run1.exe"))
        cleared = reset.call_async(ResetMap.Request())
        assert spin_until(executor, lambda: good.done() and bad.done() and cleared.done(), timeout=10.0)
        assert (good.result().success, good.result().message) == (True, "saved maps/run1.ply")
        assert (bad.result().success, bad.result().message) == (False, "unsupported extension: maps/run1.exe")
        assert (cleared.result().success, cleared.result().message) == (True, "map cleared")
        executor.shutdown()
    finally:
        child.terminate()
        child.wait(timeout=10)
