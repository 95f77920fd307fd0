{ big = builtins.length (builtins.genList (x: toString x) 20000000); }
