"""The shipped Fast DDS profile for large sensor messages parses, makes itself the default, and is installed."""

import runpy
import xml.etree.ElementTree as ET
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
PROFILE = PACKAGE / "config" / "fastdds_large_messages.xml"
NS = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
IMAGE_BYTES = 376 * 1241 * 3  # one camera image of the default rig, the largest sensor message


def test_the_default_participant_uses_a_shared_memory_segment_larger_than_an_image_and_udp():
    root = ET.parse(PROFILE).getroot()
    descriptors = root.iterfind("f:transport_descriptors/f:transport_descriptor", NS)
    transports = {t.findtext("f:transport_id", namespaces=NS): t for t in descriptors}
    participant = root.find("f:participant", NS)
    assert participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.iterfind("f:rtps/f:userTransports/f:transport_id", NS)]
    assert participant.findtext("f:rtps/f:useBuiltinTransports", namespaces=NS) == "false"
    assert set(used) <= set(transports) and {transports[t].findtext("f:type", namespaces=NS) for t in used} == {"SHM", "UDPv4"}
    shm = next(transports[t] for t in used if transports[t].findtext("f:type", namespaces=NS) == "SHM")
    assert int(shm.findtext("f:segment_size", namespaces=NS)) >= 4 * IMAGE_BYTES


def test_setup_installs_the_profile_with_the_node_configuration(monkeypatch):
    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(PACKAGE)
    runpy.run_path(str(PACKAGE / "setup.py"))
    assert "config/fastdds_large_messages.xml" in dict(captured["data_files"])["share/panoptic_bringup/config"]
