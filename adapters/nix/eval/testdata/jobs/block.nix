# Blocks on reading the FIFO given as the fifo argument.
{ fifo }:
{ stuck = import fifo; }
