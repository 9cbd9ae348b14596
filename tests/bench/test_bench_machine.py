from bench.machine import cpu_model, memory_total_bytes


def test_cpu_model_is_the_first_model_name() -> None:
    cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: other\n"

    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"


def test_memory_total_is_read_in_bytes() -> None:
    assert memory_total_bytes("MemTotal:       24683804 kB\nMemFree: 1 kB\n") == 24683804 * 1024
    assert memory_total_bytes("") is None
