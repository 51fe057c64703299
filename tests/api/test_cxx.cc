// C++ programs reach malloc-x through libstdc++'s operator new, which calls malloc: containers,
// strings, aligned new and threads all allocate from malloc-x.
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "support.h"
#include "malloc-x.h"
}

static void test_operator_new_uses_malloc_x(void **state)
{
    (void)state;
    int *single = new int(42);
    assert_true(mx_owns(single));
    delete single;

    auto *array = new std::uint64_t[1000];
    assert_true(mx_owns(array));
    delete[] array;

    struct alignas(256) wide {
        char bytes[256];
    };
    auto *aligned = new wide;
    assert_true(mx_owns(aligned));
    assert_int_equal(reinterpret_cast<std::uintptr_t>(aligned) % 256, 0);
    delete aligned;
}

static void test_containers(void **state)
{
    (void)state;
    std::map<std::string, std::vector<int>> table;
    for (int i = 0; i < 20000; i++) {
        // Longer than the 15 characters std::string keeps inline, so every key is allocated.
        std::string key = "a-key-longer-than-sso-" + std::to_string(i);
        table[key].assign(static_cast<std::size_t>(i % 50), i);
    }
    long sum = 0;
    for (const auto &entry : table) {
        assert_true(mx_owns(entry.first.data()));
        for (int v : entry.second) {
            sum += v;
        }
    }
    long expected = 0;
    for (int i = 0; i < 20000; i++) {
        expected += static_cast<long>(i % 50) * i;
    }
    assert_int_equal(sum, expected);
}

static void test_threads_share_objects(void **state)
{
    (void)state;
    std::vector<std::unique_ptr<std::string>> made(4000);
    std::thread producer([&made] {
        for (std::size_t i = 0; i < made.size(); i++) {
            made[i] = std::make_unique<std::string>(100 + i % 300, static_cast<char>('a' + i % 26));
        }
    });
    producer.join();
    std::vector<std::thread> consumers;
    for (int t = 0; t < 4; t++) {
        consumers.emplace_back([&made, t] {
            for (std::size_t i = static_cast<std::size_t>(t); i < made.size(); i += 4) {
                assert_true(mx_owns(made[i]->data()));
                assert_int_equal(made[i]->size(), 100 + i % 300);
                made[i].reset();
            }
        });
    }
    for (auto &c : consumers) {
        c.join();
    }
}

static void test_nothrow_new_fails_cleanly(void **state)
{
    (void)state;
    volatile std::size_t huge = SIZE_MAX / 2;
    char *volatile p = new (std::nothrow) char[huge];
    assert_null(p);
    bool threw = false;
    try {
        // volatile: an unused new/delete pair may be elided by the compiler.
        char *volatile q = new char[huge];
        delete[] q;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    assert_true(threw);
}

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operator_new_uses_malloc_x),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_threads_share_objects),
        cmocka_unit_test(test_nothrow_new_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
