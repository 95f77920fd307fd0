# Never finishes: reads a FIFO nobody writes.
{ src, salt, fifo }:
{ stuck = import fifo; }
