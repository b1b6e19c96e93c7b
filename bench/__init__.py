"""fieldsync benchmarks: ``python -m bench.run`` (or ``make bench``).

Every figure runs a real ``field-server serve`` process on 127.0.0.1 and real field-client
stores on disk, takes the median of several runs, and reports each time figure beside a
baseline measured in the same run. One module per figure:

- ``bench.floor``        msgspec decode + one ``executemany`` in one transaction (the floor)
- ``bench.push``         100,000 part swaps from one laptop until all are acknowledged
- ``bench.pull``         a fresh laptop primes 100,000 records
- ``bench.incremental``  100 changed records pulled; 100 local events pushed
- ``bench.noop``         a sync with nothing to do
- ``bench.wire``         requests per 1,000 records, bytes per part swap (from push and pull)
- ``bench.priming``      an engineer's real scope, drawings included, ready to go offline
- ``bench.concurrency``  500 devices pushing 50 events each and pulling, against one server

``BENCH_N`` scales record counts (default 100,000), ``BENCH_RUNS`` the repetitions (default 3).
``bench.peer`` runs the CouchDB-protocol peer of ``../shared/peer`` when node and npm are there.
"""
