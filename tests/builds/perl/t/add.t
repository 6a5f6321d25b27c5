use Test::More tests => 2;
use_ok('Tiny::Add');
is(Tiny::Add::add(2, 3), 5, 'adds');
