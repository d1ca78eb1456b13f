//! Usage texts of `swift-ring-builder`, as its no-argument help prints them.
//!
//! Each command's text is printed alone when it is called with too few or
//! malformed arguments; all of them, sorted, make up the full help.

/// The closing paragraphs of the four part-power commands: the write_ring
/// note, what the relinker does next (when it has a step to do), and the
/// caution banner.
macro_rules! part_power_tail {
    ($($relinker_step:literal)?) => {
        concat!(
            r#"

    A write_ring command is needed to make the change take effect."#,
            $(
                r#"

    Once the updated rings have been deployed to all servers you need to run
    the swift-object-relinker tool to "#,
                $relinker_step,
                ".",
            )?
            r#"

    *****************************
    USE THIS WITH EXTREME CAUTION
    *****************************

    If you increase the partition power and deploy changed rings, you may
    introduce unavailability in your cluster. This has an end-user impact. Make
    sure you execute required operations to increase the partition power
    accurately."#
        )
    };
}

/// The usage of a command that picks devices, in its two forms (search
/// values, or search options): `args` follows the search values, `opts` the
/// search options, `extra` ends the note on replication addresses and `body`
/// says what the command does.
#[rustfmt::skip]
macro_rules! search_usage {
    ($cmd:literal, $args:literal, $opts:literal, $(extra = $extra:literal,)? $body:literal) => {
        concat!(
            "swift-ring-builder <builder_file> ", $cmd, $args, "\n",
            "\n",
            "or\n",
            "\n",
            "swift-ring-builder <builder_file> ", $cmd, "\n",
            "    --region <region> --zone <zone> --ip <ip or hostname> --port <port>\n",
            "    --replication-ip <r_ip or r_hostname> --replication-port <r_port>\n",
            "    --device <device_name> --meta <meta>", $opts, "\n",
            "\n",
            "    Where <r_ip>, <r_hostname> and <r_port> are replication ip, hostname\n",
            "    and port.", $($extra,)? "\n",
            "    Any of the options are optional in both cases.\n",
            "\n",
            $body
        )
    };
}

/// `(command, usage)` in help order; `default` is the describe view.
pub const DOCS: &[(&str, &str)] = &[
    (
        "default",
        r#"swift-ring-builder <builder_file>
    Shows information about the ring and the devices within. Output
    includes a table that describes the report parameters (id, region,
    port, flags, etc).
    flags: possible values are 'DEL' and ''
        DEL - indicates that the device is marked for removal from
              ring and will be removed in next rebalance."#,
    ),
    (
        "add",
        r#"swift-ring-builder <builder_file> add
    [r<region>]z<zone>-<ip>:<port>[R<r_ip>:<r_port>]/<device_name>_<meta>
     <weight>
    [[r<region>]z<zone>-<ip>:<port>[R<r_ip>:<r_port>]/<device_name>_<meta>
     <weight>] ...

    Where <r_ip> and <r_port> are replication ip and port.

or

swift-ring-builder <builder_file> add
    --region <region> --zone <zone> --ip <ip or hostname> --port <port>
    [--replication-ip <r_ip or r_hostname>] [--replication-port <r_port>]
    --device <device_name> --weight <weight>
    [--meta <meta>]

    Adds devices to the ring with the given information. No partitions will be
    assigned to the new device until after running 'rebalance'. This is so you
    can make multiple device changes and rebalance them all just once."#,
    ),
    (
        "cancel_increase_partition_power",
        concat!(
            r#"swift-ring-builder <builder_file> cancel_increase_partition_power
    Cancel the increase of the partition power."#,
            part_power_tail!("cleanup unneeded links")
        ),
    ),
    (
        "create",
        r#"swift-ring-builder <builder_file> create <part_power> <replicas>
                                         <min_part_hours>
    Creates <builder_file> with 2^<part_power> partitions and <replicas>.
    <min_part_hours> is number of hours to restrict moving a partition more
    than once."#,
    ),
    (
        "dispersion",
        r#"swift-ring-builder <builder_file> dispersion <search_filter> [options]

    Output report on dispersion.

    --recalculate option will rebuild cached dispersion info and save builder
    --verbose option will display dispersion graph broken down by tier

    You can filter which tiers are evaluated to drill down using a regex
    in the optional search_filter argument.  i.e.

        swift-ring-builder <builder_file> dispersion "r\d+z\d+$" -v

    ... would only display rows for the zone tiers

        swift-ring-builder <builder_file> dispersion ".*\-[^/]*$" -v

    ... would only display rows for the server tiers

    The reports columns are:

    Tier  : the name of the tier
    parts : the total number of partitions with assignment in the tier
    %     : the percentage of parts in the tier with replicas over assigned
    max   : maximum replicas a part should have assigned at the tier
    0 - N : the number of parts with that many replicas assigned

    e.g.
        Tier:  parts      %   max   0    1    2   3
        r1z1    1022  79.45     1   2  210  784  28

        r1z1 has 1022 total parts assigned, 79% of them have more than the
        recommend max replica count of 1 assigned.  Only 2 parts in the ring
        are *not* assigned in this tier (0 replica count), 210 parts have
        the recommend replica count of 1, 784 have 2 replicas, and 28 sadly
        have all three replicas in this tier."#,
    ),
    (
        "finish_increase_partition_power",
        concat!(
            r#"swift-ring-builder <builder_file> finish_increase_partition_power
    Finally removes the next_part_power flag. Has to be run after the
    swift-object-relinker tool has been used to cleanup old existing data."#,
            part_power_tail!()
        ),
    ),
    (
        "increase_partition_power",
        concat!(
            r#"swift-ring-builder <builder_file> increase_partition_power
    Increases the partition power by one. Needs to be run after
    prepare_increase_partition_power has been run and all existing data has
    been relinked using the swift-object-relinker tool."#,
            part_power_tail!("cleanup old data")
        ),
    ),
    (
        "list_parts",
        search_usage!(
            "list_parts",
            " <search-value> [<search-value>] ..",
            " --weight <weight>",
            r#"    Returns a 2 column list of all the partitions that are assigned to any of
    the devices matching the search values given. The first column is the
    assigned partition number and the second column is the number of device
    matches for that partition. The list is ordered from most number of matches
    to least. If there are a lot of devices to match against, this command
    could take a while to run."#
        ),
    ),
    (
        "prepare_increase_partition_power",
        concat!(
            r#"swift-ring-builder <builder_file> prepare_increase_partition_power
    Prepare the ring to increase the partition power by one."#,
            part_power_tail!("relink existing data")
        ),
    ),
    (
        "pretend_min_part_hours_passed",
        r#"swift-ring-builder <builder_file> pretend_min_part_hours_passed
    Resets the clock on the last time a rebalance happened, thus
    circumventing the min_part_hours check.

    *****************************
    USE THIS WITH EXTREME CAUTION
    *****************************

    If you run this command and deploy rebalanced rings before a replication
    pass completes, you may introduce unavailability in your cluster. This
    has an end-user impact."#,
    ),
    (
        "rebalance",
        r#"swift-ring-builder <builder_file> rebalance [options]
    Attempts to rebalance the ring by reassigning partitions that haven't been
    recently reassigned."#,
    ),
    (
        "remove",
        search_usage!(
            "remove",
            r#" <search-value> [search-value ...]
    [--yes]"#,
            r#" --weight <weight>
    [--yes]"#,
            r#"    Removes the device(s) from the ring. This should normally just be used for
    a device that has failed. For a device you wish to decommission, it's best
    to set its weight to 0, wait for it to drain all its data, then use this
    remove command. This will not take effect until after running 'rebalance'.
    This is so you can make multiple device changes and rebalance them all just
    once.

    Option --yes assume a yes response to all questions."#
        ),
    ),
    (
        "search",
        search_usage!(
            "search",
            " <search-value>",
            " --weight <weight>",
            "    Shows information about matching devices."
        ),
    ),
    (
        "set_info",
        r#"swift-ring-builder <builder_file> set_info
    <search-value> <ip>:<port>[R<r_ip>:<r_port>]/<device_name>_<meta>
    [<search-value> <ip>:<port>[R<r_ip>:<r_port>]/<device_name>_<meta>] ...
    [--yes]

or

swift-ring-builder <builder_file> set_info
    --ip <ip or hostname> --port <port>
    --replication-ip <r_ip or r_hostname> --replication-port <r_port>
    --device <device_name> --meta <meta>
    --change-ip <ip or hostname> --change-port <port>
    --change-replication-ip <r_ip or r_hostname>
    --change-replication-port <r_port>
    --change-device <device_name>
    --change-meta <meta>
    [--yes]

    Where <r_ip>, <r_hostname> and <r_port> are replication ip, hostname
    and port.
    Any of the options are optional in both cases.

    For each search-value, resets the matched device's information.
    This information isn't used to assign partitions, so you can use
    'write_ring' afterward to rewrite the current ring with the newer
    device information. Any of the parts are optional in the final
    <ip>:<port>/<device_name>_<meta> parameter; just give what you
    want to change. For instance set_info d74 _"snet: 5.6.7.8" would
    just update the meta data for device id 74.

    Option --yes assume a yes response to all questions."#,
    ),
    (
        "set_min_part_hours",
        r#"swift-ring-builder <builder_file> set_min_part_hours <hours>
    Changes the <min_part_hours> to the given <hours>. This should be set to
    however long a full replication/update cycle takes. We're working on a way
    to determine this more easily than scanning logs."#,
    ),
    (
        "set_overload",
        r#"swift-ring-builder <builder_file> set_overload <overload>[%]
    Changes the overload factor to the given <overload>.

    A rebalance is needed to make the change take effect."#,
    ),
    (
        "set_region",
        search_usage!(
            "set_region",
            r#" <search-value> <region>
    [<search-value> <region] ..."#,
            " <new region> [--yes]",
            r#"    Resets the devices' regions. No partitions will be reassigned to or from
    the device until after running 'rebalance'. This is so you can make
    multiple device changes and rebalance them all just once.

    Option --yes assume a yes response to all questions."#
        ),
    ),
    (
        "set_replicas",
        r#"swift-ring-builder <builder_file> set_replicas <replicas>
    Changes the replica count to the given <replicas>. <replicas> may
    be a floating-point value, in which case some partitions will have
    floor(<replicas>) replicas and some will have ceiling(<replicas>)
    in the correct proportions.

    A rebalance is needed to make the change take effect."#,
    ),
    (
        "set_weight",
        search_usage!(
            "set_weight",
            r#" <search-value> <new_weight>
    [<search-value> <new_weight>] ...
    [--yes]"#,
            r#" --weight <weight> <new_weight>
    [--yes]"#,
            extra = r#" <weight> and <new_weight> are the search weight and new
    weight values respectively."#,
            r#"    Resets the devices' weights. No partitions will be reassigned to or from
    the device until after running 'rebalance'. This is so you can make
    multiple device changes and rebalance them all just once.

    Option --yes assume a yes response to all questions."#
        ),
    ),
    (
        "set_zone",
        search_usage!(
            "set_zone",
            r#" <search-value> <zone>
    [<search-value> <zone] ..."#,
            " <new zone> [--yes]",
            r#"    Resets the devices' zones. No partitions will be reassigned to or from
    the device until after running 'rebalance'. This is so you can make
    multiple device changes and rebalance them all just once.

    Option --yes assume a yes response to all questions."#
        ),
    ),
    (
        "validate",
        r#"swift-ring-builder <builder_file> validate
    Just runs the validation routines on the ring."#,
    ),
    ("version", r#"swift-ring-builder <ring_file> version"#),
    (
        "write_builder",
        r#"swift-ring-builder <ring_file> write_builder [min_part_hours]
    Recreate a builder from a ring file (lossy) if you lost your builder
    backups.  (Protip: don't lose your builder backups).
    [min_part_hours] is one of those numbers lost to the builder,
    you can change it with set_min_part_hours."#,
    ),
    (
        "write_ring",
        r#"swift-ring-builder <builder_file> write_ring
    Just rewrites the distributable ring file. This is done automatically after
    a successful rebalance, so really this is only useful after one or more
    'set_info' calls when no rebalance is needed but you want to send out the
    new device information."#,
    ),
];

/// The `<search-value>` grammar, printed after a command's usage when its
/// search value is missing.
pub const SEARCH_VALUE: &str = r#"The <search-value> can be of the form::

        d<device_id>r<region>z<zone>-<ip>:<port>R<r_ip>:<r_port>/
         <device_name>_<meta>

    Where <r_ip> and <r_port> are replication ip and port.

    Any part is optional, but you must include at least one part.

    Examples::

        d74              Matches the device id 74
        r4               Matches devices in region 4
        z1               Matches devices in zone 1
        z1-1.2.3.4       Matches devices in zone 1 with the ip 1.2.3.4
        1.2.3.4          Matches devices in any zone with the ip 1.2.3.4
        z1:5678          Matches devices in zone 1 using port 5678
        :5678            Matches devices that use port 5678
        R5.6.7.8         Matches devices that use replication ip 5.6.7.8
        R:5678           Matches devices that use replication port 5678
        1.2.3.4R5.6.7.8  Matches devices that use ip 1.2.3.4 and replication ip
                         5.6.7.8
        /sdb1            Matches devices with the device name sdb1
        _shiny           Matches devices with shiny in the meta data
        _"snet: 5.6.7.8" Matches devices with snet: 5.6.7.8 in the meta data
        [::1]            Matches devices in any zone with the ip ::1
        z1-[::1]:5678    Matches devices in zone 1 with ip ::1 and port 5678

    Most specific example::

        d74r4z1-1.2.3.4:5678/sdb1_"snet: 5.6.7.8"

    Nerd explanation:

        All items require their single character prefix except the ip, in which
        case the - is optional unless the device id or zone is also included."#;

/// The usage text of `command` (empty if unknown).
pub fn usage(command: &str) -> &'static str {
    DOCS.iter()
        .find(|(c, _)| *c == command)
        .map_or("", |(_, d)| d)
}

/// The full help: version, every command's usage, the search-value grammar,
/// the quick list and the exit codes.
pub fn print_full(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "{}\n", super::VERSION_LINE)?;
    for (_, doc) in DOCS {
        writeln!(out, "{doc}\n")?;
    }
    writeln!(out, "{SEARCH_VALUE}\n")?;
    let names: Vec<&str> = DOCS
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| *c != "default")
        .collect();
    for line in wrap(&names, 79, "Quick list: ", "            ") {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "Exit codes: 0 = operation successful")?;
    writeln!(out, "            1 = operation completed with warnings")?;
    writeln!(out, "            2 = error")
}

/// Greedy word wrap with Python `textwrap`'s indents.
fn wrap(words: &[&str], width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for w in words {
        if !empty && line.len() + 1 + w.len() > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(w);
        empty = false;
    }
    lines.push(line);
    lines
}
