# The demo's app stack: the code demo/seed.py builds the world from.
variable "ami" {
  type = string
}

variable "subnet_id" {
  type = string
}

variable "web_sg" {
  type = string
}

resource "aws_instance" "web" {
  count                  = 3
  ami                    = var.ami
  instance_type          = "t3.micro"
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [var.web_sg]

  tags = {
    Name = "web-${count.index}"
    Team = "web"
  }
}

resource "aws_s3_bucket" "logs" {
  bucket = "demo-logs"

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm = "AES256"
      }
    }
  }

  tags = {
    Name = "demo-logs"
    Team = "platform"
  }
}

module "storage" {
  source = "./modules/storage"
}
