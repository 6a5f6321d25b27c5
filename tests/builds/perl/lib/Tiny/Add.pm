package Tiny::Add;
our $VERSION = '0.01';
sub add { return $_[0] + $_[1] }
1;
