# the rules both subdirectories include
OUTS := $(patsubst %.in,%.out,$(wildcard *.in))
all: sum
sum: $(OUTS)
	cat $^ > $@
%.out: %.in
	sleep 0.1; tr a-z A-Z < $< > $@
