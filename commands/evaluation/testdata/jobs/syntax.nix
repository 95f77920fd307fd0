{ src, salt }:
{ a = ; }
