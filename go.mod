module lbd

go 1.26

require (
	github.com/gophercloud/gophercloud/v2 v2.15.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
